"""Code every Parley service imports: settings, bus, schemas, database, security."""
