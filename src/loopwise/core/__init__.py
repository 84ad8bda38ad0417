"""The pure domain: entities, enums, validation and the clock. No I/O here."""
