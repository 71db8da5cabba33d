"""Benchmarks of Spotify spending, ETL throughput, match quality and web latency (make bench)."""
