"""Exporters: OTLP (gRPC and HTTP/protobuf) wrapped for production, and the dev console.

Selected by ``configure(exporter=...)``; nothing here is imported until then.
"""
