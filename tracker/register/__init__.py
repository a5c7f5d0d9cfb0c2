"""The register: the YAML dataset, items, people, history and the meeting series' overrides. Imports only core."""
