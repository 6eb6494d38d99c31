"""Documents attached to appeals, and the content-addressed blob storage under them."""
