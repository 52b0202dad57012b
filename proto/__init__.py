"""The gRPC contract samenloop.v1 and its generated code."""
