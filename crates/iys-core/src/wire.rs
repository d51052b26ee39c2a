//! IYS request and response bodies other than the consent itself (token, batch, status, pull, errors).
//! Shared by iys-sim, iys-worker and iys-cli. Serde derives only: these types are compatibility promises.
