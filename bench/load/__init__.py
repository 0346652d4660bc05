"""Parts of `bench.soak`: the system under load, the load processes, the figures."""
