"""The three-tier grid: codes, model, exact point location, build, validation, repair, files."""
