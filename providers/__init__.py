"""Provider adapters (one per upstream wire format) and the free-provider catalog. Adapters
register through the `freerouter.providers` entry-point group, like a third party's would."""
