"""PostgreSQL: the references every ingest writes in bulk are checked once per statement.

A foreign key is checked row by row: for each inserted row PostgreSQL runs a query that finds
and locks (``FOR KEY SHARE``) the referenced row. An ingest of 1,000 items wrote six such keys
per item (``item.project_id``; ``prediction.item_id``, ``.model_version_id``,
``.calibration_id``; ``decision.item_id``, ``.prediction_id``). Here those six keys become
triggers that check a whole statement's rows in one anti-join (``REFERENCING NEW TABLE``): the
database's CPU for an item's item, prediction and decision rows went from 61.5 to 31 µs
(``bench/keys.py``).

What stays as a foreign key would guarantee:

- An inserted row whose key points nowhere is refused (``foreign_key_violation``, SQLSTATE
  23503, naming the key as the constraint did), and so is an update that changes a key to
  point nowhere (a row trigger, fired only when a key column changes).
- Deleting a referenced row is refused (a statement trigger on the referenced table), and so is
  changing a referenced row's ``id``.

What does not: the row lock. A transaction deleting an item while another, not yet committed,
inserts a prediction for it could both pass their checks. loopwise never deletes projects,
items, predictions, model versions or calibrations, so only someone editing the database by
hand could race this way. ``TRUNCATE`` fires no trigger (a foreign key would refuse it).

The functions keep the ``search_path`` of the migration (``SET search_path FROM CURRENT``), as a
foreign key keeps its table: a session with another path still checks the right tables.

SQLite checks foreign keys in the process, at little cost: its keys stay as they are. See
``loopwise.store.tables.SET_CHECKED_KEYS``.

Revision ID: 0009_set_checked_keys
Revises: 0008_active_learning_pool
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009_set_checked_keys'
down_revision: str | None = '0008_active_learning_pool'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (
    ('item', 'project_id', 'project'),
    ('prediction', 'item_id', 'item'),
    ('prediction', 'model_version_id', 'model_version'),
    ('prediction', 'calibration_id', 'calibration'),
    ('decision', 'item_id', 'item'),
    ('decision', 'prediction_id', 'prediction'),
)
"""(table, column, referenced table); the referenced column is always ``id``. A frozen copy of
``SET_CHECKED_KEYS`` as of this revision."""


_BODY = 'RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT'
"""Every function here: a trigger in PL/pgSQL that resolves table names as the migration did."""


def _name(table: str, column: str, target: str) -> str:
    return f'fk_{table}_{column}_{target}'


def _by(position: int) -> dict[str, list[tuple[str, str, str]]]:
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for key in KEYS:
        grouped.setdefault(key[position], []).append(key)
    return grouped


def _violation(message: str, constraint: str, table: str, detail: str) -> str:
    return (
        f"RAISE EXCEPTION '{message}' USING ERRCODE = 'foreign_key_violation', "
        f"CONSTRAINT = '{constraint}', TABLE = '{table}', DETAIL = {detail};"
    )


def _statements() -> list[str]:
    out: list[str] = []
    for table, keys in _by(0).items():
        statement_checks, row_checks = [], []
        for _, column, target in keys:
            name = _name(table, column, target)
            message = f'insert or update on table "{table}" violates foreign key constraint "{name}"'
            detail = f"format('Key ({column})=(%s) is not present in table \"{target}\".', bad)"
            statement_checks.append(
                f'SELECT n."{column}"::text INTO bad FROM loopwise_new n '
                f'WHERE n."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM "{target}" x WHERE x.id = n."{column}") LIMIT 1; '
                f'IF FOUND THEN {_violation(message, name, table, detail)} END IF;'
            )
            row_checks.append(
                f'IF NEW."{column}" IS NOT NULL AND NOT EXISTS '
                f'(SELECT 1 FROM "{target}" x WHERE x.id = NEW."{column}") THEN '
                f'bad := NEW."{column}"::text; {_violation(message, name, table, detail)} END IF;'
            )
        columns = ', '.join(f'"{column}"' for _, column, _ in keys)
        changed = ' OR '.join(f'OLD."{c}" IS DISTINCT FROM NEW."{c}"' for _, c, _ in keys)
        out += [
            f'CREATE FUNCTION loopwise_keys_{table}() {_BODY} AS $$ '
            f'DECLARE bad text; BEGIN {" ".join(statement_checks)} RETURN NULL; END $$',
            f'CREATE TRIGGER loopwise_keys_{table}_insert AFTER INSERT ON "{table}" '
            'REFERENCING NEW TABLE AS loopwise_new FOR EACH STATEMENT '
            f'EXECUTE FUNCTION loopwise_keys_{table}()',
            f'CREATE FUNCTION loopwise_keys_{table}_row() {_BODY} AS $$ '
            f'DECLARE bad text; BEGIN {" ".join(row_checks)} RETURN NEW; END $$',
            f'CREATE TRIGGER loopwise_keys_{table}_update BEFORE UPDATE OF {columns} '
            f'ON "{table}" FOR EACH ROW WHEN ({changed}) '
            f'EXECUTE FUNCTION loopwise_keys_{table}_row()',
        ]
    for target, keys in _by(2).items():
        checks = []
        for table, column, _ in keys:
            name = _name(table, column, target)
            message = (
                f'update or delete on table "{target}" violates foreign key constraint '
                f'"{name}" on table "{table}"'
            )
            detail = f"format('Key (id)=(%s) is still referenced from table \"{table}\".', bad)"
            checks.append(
                f'SELECT o.id::text INTO bad FROM loopwise_old o WHERE EXISTS '
                f'(SELECT 1 FROM "{table}" t WHERE t."{column}" = o.id) LIMIT 1; '
                f'IF FOUND THEN {_violation(message, name, target, detail)} END IF;'
            )
        out += [
            f'CREATE FUNCTION loopwise_referenced_{target}() {_BODY} '
            f'AS $$ DECLARE bad text; BEGIN {" ".join(checks)} RETURN NULL; END $$',
            f'CREATE TRIGGER loopwise_referenced_{target}_delete AFTER DELETE ON "{target}" '
            'REFERENCING OLD TABLE AS loopwise_old FOR EACH STATEMENT '
            f'EXECUTE FUNCTION loopwise_referenced_{target}()',
            f'CREATE TRIGGER loopwise_referenced_{target}_id BEFORE UPDATE OF id ON "{target}" '
            'FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) '
            'EXECUTE FUNCTION loopwise_referenced_id_fixed()',
        ]
    fixed = (
        f'CREATE FUNCTION loopwise_referenced_id_fixed() {_BODY} AS $$ '
        "BEGIN RAISE EXCEPTION 'the id of a row of \"%\" cannot change: other tables refer to it', "
        "TG_TABLE_NAME USING ERRCODE = 'foreign_key_violation'; END $$"
    )
    return [fixed, *out]


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, column, target in KEYS:
        op.drop_constraint(_name(table, column, target), table, type_='foreignkey')
    for statement in _statements():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in _by(0):
        op.execute(f'DROP TRIGGER loopwise_keys_{table}_insert ON "{table}"')
        op.execute(f'DROP TRIGGER loopwise_keys_{table}_update ON "{table}"')
        op.execute(f'DROP FUNCTION loopwise_keys_{table}()')
        op.execute(f'DROP FUNCTION loopwise_keys_{table}_row()')
    for target in _by(2):
        op.execute(f'DROP TRIGGER loopwise_referenced_{target}_delete ON "{target}"')
        op.execute(f'DROP TRIGGER loopwise_referenced_{target}_id ON "{target}"')
        op.execute(f'DROP FUNCTION loopwise_referenced_{target}()')
    op.execute('DROP FUNCTION loopwise_referenced_id_fixed()')
    for table, column, target in KEYS:
        op.create_foreign_key(_name(table, column, target), table, target, [column], ['id'])
