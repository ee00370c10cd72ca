//! Peer addresses as users write them: `NODE_ID@IP:PORT` or a node ticket.

use std::net::SocketAddr;
use std::str::FromStr;

use iroh::{EndpointAddr, EndpointId, TransportAddr};
use iroh_tickets::Ticket;
use iroh_tickets::endpoint::EndpointTicket;

use crate::error::{Error, Result};

/// Parses one peer as given in `RHIZOME_PEERS`: `NODE_ID@IP:PORT` (the node
/// id as printed at start, IPv6 as `[::1]:PORT`) or a node ticket
/// (`endpoint…`, as `GET /api/peers` shows in `self.ticket`).
///
/// ```
/// let id = "ae58ff8833241ac82d6ff7611046ed67b5072d142c588d0063e942d9a75502b6";
/// let peer = rhizome_sync::net::parse_peer(&format!("{id}@127.0.0.1:4100"))?;
/// assert_eq!(peer.id.to_string(), id);
/// assert_eq!(peer.ip_addrs().next(), Some(&"127.0.0.1:4100".parse()?));
/// let again = rhizome_sync::net::parse_peer(&rhizome_sync::net::ticket(&peer))?;
/// assert_eq!(again, peer);
/// assert!(rhizome_sync::net::parse_peer("nonsense").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_peer(text: &str) -> Result<EndpointAddr> {
    let text = text.trim();
    let bad = |problem: String| Error::BadPeer {
        peer: text.chars().take(200).collect(),
        problem,
    };
    if let Some((id, addr)) = text.split_once('@') {
        let id = EndpointId::from_str(id).map_err(|e| bad(format!("node id: {e}")))?;
        let addr = SocketAddr::from_str(addr).map_err(|e| bad(format!("address: {e}")))?;
        return Ok(EndpointAddr::from_parts(id, [TransportAddr::Ip(addr)]));
    }
    let ticket = EndpointTicket::from_str(text)
        .map_err(|e| bad(format!("neither NODE_ID@IP:PORT nor a ticket ({e})")))?;
    Ok(ticket.endpoint_addr().clone())
}

/// Parses a comma-separated list of peers (empty items are skipped).
pub fn parse_peers(list: &str) -> Result<Vec<EndpointAddr>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_peer)
        .collect()
}

/// The ticket of `addr`: one string holding the node id and its addresses.
pub fn ticket(addr: &EndpointAddr) -> String {
    EndpointTicket::new(addr.clone()).encode_string()
}
