"""The crawl function's handler package (its image copies handler.py to the task root)."""
