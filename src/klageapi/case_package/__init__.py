"""Case packages and the Statsforvalter's side: forwarding, the pull feed, bundles, receipts,
rejections, documentation requests and the decision."""
