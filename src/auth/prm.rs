//! OAuth 2.0 Protected Resource Metadata (RFC 9728): the document, built once, and its URL
//! derived from the resource identifier (`auth_resource`) by inserting
//! `/.well-known/oauth-protected-resource` between the host and the path (§3.1).

/// The well-known path prefix of RFC 9728.
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// Checks a canonical resource URI: absolute `http(s)`, with a host, no query or fragment,
/// `https` unless the host is loopback. Returns (origin `scheme://authority`, path).
pub fn split_resource(uri: &str) -> Result<(&str, &str), String> {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(format!("`{uri}` is not an absolute URI (e.g. https://mcp.example.com/mcp)"));
    };
    let scheme_lc = scheme.to_ascii_lowercase();
    if scheme_lc != "https" && scheme_lc != "http" {
        return Err(format!("`{uri}`: the scheme must be https (or http on loopback)"));
    }
    if uri.contains('#') || uri.contains('?') {
        return Err(format!("`{uri}`: a resource URI has no fragment or query"));
    }
    let authority_len = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("`{uri}` has no host (or has user info)"));
    }
    if scheme_lc == "http" && !is_loopback_authority(authority) {
        return Err(format!("`{uri}`: http is only accepted for loopback hosts; use https"));
    }
    let origin_len = scheme.len() + 3 + authority_len;
    let path = &uri[origin_len..];
    Ok((&uri[..origin_len], if path == "/" { "" } else { path }))
}

/// Whether `authority` (`host[:port]`) names a loopback host.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The metadata URL of `resource` (path-inserted; the root form when it has no path).
pub fn metadata_url(resource: &str) -> Result<String, String> {
    let (origin, path) = split_resource(resource)?;
    Ok(format!("{origin}{WELL_KNOWN}{path}"))
}

fn push_str(out: &mut Vec<u8>, s: &str) {
    sonic_rs::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

fn push_list(out: &mut Vec<u8>, key: &str, items: &[String]) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, s) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, s);
    }
    out.push(b']');
}

/// The metadata document. `offline_access` is left out of `scopes_supported` (MCP
/// 2026-07-28), and the member is omitted when no scope is listed.
pub fn document(resource: &str, authorization_servers: &[String], scopes_supported: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"resource\":");
    push_str(&mut out, resource);
    push_list(&mut out, "authorization_servers", authorization_servers);
    let scopes: Vec<String> = scopes_supported.iter().filter(|s| *s != "offline_access").cloned().collect();
    if !scopes.is_empty() {
        push_list(&mut out, "scopes_supported", &scopes);
    }
    out.extend_from_slice(br#","bearer_methods_supported":["header"],"resource_name":"ringmcp"}"#);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_path_inserted() {
        assert_eq!(
            metadata_url("https://mcp.example.com/mcp").unwrap(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url("https://mcp.example.com:8443").unwrap(),
            "https://mcp.example.com:8443/.well-known/oauth-protected-resource"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:9/mcp").unwrap(),
            "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"
        );
        assert!(metadata_url("http://mcp.example.com/mcp").is_err());
        assert!(metadata_url("https://mcp.example.com/mcp#x").is_err());
        assert!(metadata_url("/mcp").is_err());
        assert!(is_loopback_authority("[::1]:80") && is_loopback_authority("localhost"));
    }

    #[test]
    fn document_fields() {
        let doc = document("https://h/mcp", &["https://as".into()], &["a".into(), "offline_access".into()]);
        assert_eq!(
            String::from_utf8(doc).unwrap(),
            r#"{"resource":"https://h/mcp","authorization_servers":["https://as"],"scopes_supported":["a"],"bearer_methods_supported":["header"],"resource_name":"ringmcp"}"#
        );
    }
}
