//! Notifications from the client. They are never answered; unknown ones are ignored, as
//! JSON-RPC asks.

use super::Session;

/// Takes one notification.
pub fn handle_notification(session: &mut Session, method: &str, params: Option<&str>) {
    match method {
        "notifications/initialized" => session.client_ready = true,
        "notifications/cancelled" => {
            let id = params.and_then(|p| sonic_rs::get_from_str(p, &["requestId"]).ok());
            match id {
                Some(id) if session.peer.cancel(id.as_raw_str()) => {
                    log::debug!("session {}: request {} cancelled", session.id, id.as_raw_str())
                }
                // The request may have finished already; the spec asks to ignore it then.
                _ => log::debug!("session {}: cancellation of no request in flight", session.id),
            }
        }
        _ => log::trace!("session {}: notification {method} ignored", session.id),
    }
}
