//! Notifications from the client. They are never answered; unknown ones are ignored, as
//! JSON-RPC asks.

use super::Session;

/// Takes one notification.
pub fn handle_notification(session: &mut Session, method: &str, _params: Option<&str>) {
    match method {
        "notifications/initialized" => session.client_ready = true,
        // Cancellation, progress and roots changes need the request tracking of the HTTP
        // issue (#3); until then they change nothing here.
        _ => log::trace!("session {}: notification {method} ignored", session.id),
    }
}
