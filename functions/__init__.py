"""The five Lambda functions; each directory is one container image."""
