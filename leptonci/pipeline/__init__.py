"""The model pipeline: train (with the content-hash cache), gate, build and push the image."""
