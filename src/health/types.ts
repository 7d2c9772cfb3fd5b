// A backend's health as active checks see it.

/** "unknown" until the first check result (and counted as healthy). */
export type HealthState = "up" | "down" | "unknown";
