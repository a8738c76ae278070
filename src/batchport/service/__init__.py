"""The REST API service (`batchport serve`); see `app.py`."""
