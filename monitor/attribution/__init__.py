"""Who served a check: IP -> ASN through Team Cymru's DNS interface (dnspython), the
ASN cache, the hoster registry, CDN / reverse-proxy edges and origins.

May import: monitor.store, monitor.core, monitor.intake (the CDN registry's CSV import), hashes.
"""
