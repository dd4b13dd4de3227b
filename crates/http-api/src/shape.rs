//! Response shaping: a jq expression over an API's JSON answer, compiled once when the server
//! is built; its output is what the tool returns (several outputs become an array). The
//! expression engine is the workspace's shared one (`switchboard-jq`, on jaq).

pub use switchboard_jq::Jq as Shaper;
