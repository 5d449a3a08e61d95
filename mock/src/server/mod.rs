//! The HTTP(S) front of the simulator: the `/rest/v1` routes, authentication (session cookie
//! or Basic), fault injection, the `/_sim` control routes and the connection accept loop.
//!
//! Layers, bottom up: `respond` (answers and body parsing) and `shared` (the state every
//! connection shares); `auth`, `reads`, `mutations` and `control` (the routes' handlers);
//! `router` (the route table); `connections` (accept loop and fault injection).

mod auth;
mod connections;
mod control;
mod mutations;
mod reads;
mod respond;
mod router;
mod shared;

pub(crate) use connections::accept_loop;
pub(crate) use control::truth_of;
pub(crate) use shared::Shared;
