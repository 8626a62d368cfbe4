# The echo service of the capnp-rpc-uds case.
@0xdb7ae9b66cacbea3;

interface Echo {
  # Replies with the request's payload.
  echo @0 (payload :Data) -> (payload :Data);
}
