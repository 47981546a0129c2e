"""WeCom (企业微信) callbacks: contact and group-chat changes pushed to
`/v1/wecom/callback` become events, through a durable inbox (docs/wecom.md).

- `crypto`: WeCom's callback protocol (signature, AES-256-CBC, receive id);
- `pushes`: a decrypted push's XML, and the canonical events it makes;
- `inbox`: the append-only file every accepted push is written to first;
- `applier`: inbox records into the store, in micro-batches;
- `receiver`: what the routes call, and its start and stop with the server.
"""
