"""One small module per route. Each has `NAME`, `applies(ctx)` and `handle(ctx)`; `handle`
writes the reply into `ctx.out` (and may update `ctx.state`), and streams when it is a
generator. The order they are tried in is `coach.turn.routes.ROUTES`."""
