"""Built-in load-balancing strategies. Each registers through the `freerouter.strategies` entry-point
group, exactly as a third-party strategy would; see router.types.Strategy for the protocol."""
