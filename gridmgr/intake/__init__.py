"""What comes in: channels and batch files, duplicates, photos, the Open311 vocabulary (pure)."""
