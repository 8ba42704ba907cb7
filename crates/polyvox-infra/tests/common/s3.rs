//! SeaweedFS fixture (filled in with the storage module).
