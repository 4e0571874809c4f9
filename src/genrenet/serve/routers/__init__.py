"""The routes, one module per area: health, models, inference (predict and tag), the page."""
