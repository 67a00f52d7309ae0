//! Paybridge flows on Stripe (filled below).
