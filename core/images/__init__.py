"""Images as the model sees them: read upright, face found and aligned, cropped, cached."""
