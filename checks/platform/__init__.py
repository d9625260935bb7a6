"""Invoice platforms as the monitor sees them: profiles, sessions, tokens, signing, canaries.

    models      the `platforms:` config (PlatformProfile) and shipped profiles (profiles/*.yaml)
    templating  `{variable}` request templates
    jsonpath    compiled JSONPath
    signing/    request signing plug-ins (hmac-sha1, md5), registry SIGNERS
    tokens      the shared, quota-aware token cache
    session     one account: build, authenticate, sign, send, judge (envelope) -> Exchange
    records     invoice records from raw JSON via `fields:`; time parsing; 数电 rules
    registry    ctx.services["platforms"] (provide)
    ledger      CanaryLedger: the canary ledger's contract (the store implements it; ctx.services)
    canary      issue / settle by order number / poll / cancel canary invoices
    sweep       settle and cancel the ledger's open canaries (per check, or all), with backoff
    recovery    the background sweep service
    history     the `History` protocol (ctx.services["history"]) and the learnt arrival rate
    diagnose    what a profile's mappings found in an answer (`invoicewatch platform try`)
    steps       exchanges -> StepResults with evidence
"""
