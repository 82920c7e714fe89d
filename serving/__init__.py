"""Serves pushed charword models over TF Serving's REST API, with hot reload.

  model.py     one loaded SavedModel version: signatures, metadata, warm-up, inference
  registry.py  watches a versioned model directory and swaps in new versions
  protocol.py  TF Serving REST request parsing and response formatting (no I/O)
  rest.py      the ASGI app: routes, limits, errors
  server.py    ``serve()``: runs the app on uvicorn
  client.py    predictions from a local model or a server URL (used by the CLI)
"""
