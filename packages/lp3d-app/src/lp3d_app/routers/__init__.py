"""One router per resource: project, sessions, frames, sources, diagnostics, jobs, and the page's assets."""
