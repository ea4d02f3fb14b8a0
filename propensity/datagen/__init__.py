"""Raw tables of the retailer: a synthetic generator and a mapping of real grocery histories."""
