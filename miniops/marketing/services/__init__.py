"""Every write about coupons, points and levels, flash sales, group buys and
time-limited discounts; import the modules from here."""
