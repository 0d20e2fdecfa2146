"""Human-readable reports of graphs and plans (rich tables)."""
