"""The widget's visitor socket: the socket handler (`ws`), its frames (`frames`), the
per-process hub of open sockets (`hub`) and the limits (`limits`)."""
