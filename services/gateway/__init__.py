"""Public edge: widget assets, the visitor websocket, the Segment-compatible ingest API."""
