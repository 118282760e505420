//! Where a run may connect: the allowed hosts and networks (`SCRAPER_ALLOWED_HOSTS`,
//! `SCRAPER_ALLOWED_NETWORKS`).
