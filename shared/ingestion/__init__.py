"""Crawl's jobs: KRX listing and prices, KIS quotes, Naver news, news embeddings."""
