"""classroomd central: the district's view of every classroom (ingest, presence, alerts, usage, inventory)."""
