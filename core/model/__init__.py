"""The dual-head networks: builders and their Keras parts, warm reuse, pretrained weights."""
