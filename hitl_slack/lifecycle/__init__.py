"""The Redis side of a request's life: atomic steps (Lua), their sans-I/O generators and the sync
and async runners."""
