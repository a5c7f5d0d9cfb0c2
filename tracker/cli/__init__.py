"""The command line: a thin click layer (commands), its output (tables or --json) and shell completion."""
