"""The names of the CDNs we know by their headers and ship in the default registry."""

CLOUDFLARE = "Cloudflare"
CLOUDFRONT = "Amazon CloudFront"
AKAMAI = "Akamai"
FASTLY = "Fastly"
IMPERVA = "Imperva"
SUCURI = "Sucuri"
BUNNY = "bunny.net"
