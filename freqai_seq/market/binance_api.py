"""aiohttp routes answering Binance's public spot REST endpoints from a CandleStore.

Only what ccxt's binance class calls for public data is served. Errors use Binance's JSON shape
({"code", "msg"}) and codes, so ccxt raises the same exceptions it would against the real API.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable

import numpy as np
from aiohttp import web

from freqai_seq.market.candles import (
    KLINES_DEFAULT_LIMIT,
    KLINES_MAX_LIMIT,
    CandleStore,
    Instrument,
    step_size,
    tick_size,
)

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
MIN_NOTIONAL = 5.0
STORE_KEY = web.AppKey("store", CandleStore)
# What Binance accepts, as its -1100 errors state them: unsigned integers, and `symbols` as a
# JSON array of symbols without spaces (`["BTCUSDT","ETHUSDT"]`).
UNSIGNED = "^[0-9]{1,20}$"
SYMBOLS = '^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$'


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _fmt(value: float) -> str:
    return f"{value:.8f}"


def _illegal(name: str, legal: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                               f"'{legal}'.")


def _int_param(request: web.Request, name: str) -> int | None:
    """An unsigned integer parameter: a negative time or limit is refused, as Binance does."""
    raw = request.query.get(name)
    if raw is None:
        return None
    if not re.fullmatch(UNSIGNED, raw):
        raise _illegal(name, UNSIGNED)
    return int(raw)


def _instrument(request: web.Request, required: bool = True) -> Instrument | None:
    symbol = request.query.get("symbol")
    if symbol is None:
        if required:
            raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                      "or malformed.")
        return None
    inst = request.app[STORE_KEY].instruments.get(symbol.upper())
    if inst is None:
        raise BinanceError(-1121, "Invalid symbol.")
    return inst


def _listed(request: web.Request) -> list[Instrument]:
    """The instruments of the `symbols` parameter, in the order given; each must exist."""
    if "symbol" in request.query:
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    raw = request.query["symbols"]
    if not re.fullmatch(SYMBOLS, raw):
        raise _illegal("symbols", SYMBOLS)
    instruments = request.app[STORE_KEY].instruments
    if any(symbol not in instruments for symbol in json.loads(raw)):
        raise BinanceError(-1121, "Invalid symbol.")
    return [instruments[symbol] for symbol in dict.fromkeys(json.loads(raw))]


def _last_close(store: CandleStore, inst: Instrument) -> tuple[int, float] | None:
    latest = store.latest(inst, inst.finest.interval_ms)
    if latest is None:
        return None
    open_ms, candles = latest
    return open_ms, float(candles[-1, 3])


def _book(price: float) -> tuple[float, float]:
    """Best bid and ask around the last close: one tick or one basis point each side."""
    half = max(tick_size(price), price * 1e-4)
    tick = tick_size(price)
    return round((price - half) / tick) * tick, round((price + half) / tick) * tick


async def ping(request: web.Request) -> web.Response:
    return web.json_response({})


async def server_time(request: web.Request) -> web.Response:
    return web.json_response({"serverTime": request.app[STORE_KEY].clock.now_ms()})


def _symbol_info(store: CandleStore, inst: Instrument) -> dict:
    last = _last_close(store, inst)
    price = last[1] if last else float(inst.finest.ohlcv[-1, 3])
    tick, step = tick_size(price), step_size(price)
    return {
        "symbol": inst.symbol, "status": "TRADING",
        "baseAsset": inst.base, "baseAssetPrecision": 8,
        "quoteAsset": inst.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "icebergAllowed": True, "ocoAllowed": True, "otoAllowed": True,
        "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": True, "cancelReplaceAllowed": True,
        "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": _fmt(tick), "maxPrice": _fmt(1_000_000.0),
             "tickSize": _fmt(tick)},
            {"filterType": "LOT_SIZE", "minQty": _fmt(step), "maxQty": _fmt(9_000_000.0),
             "stepSize": _fmt(step)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": _fmt(0.0), "maxQty": _fmt(1_000_000.0),
             "stepSize": _fmt(0.0)},
            {"filterType": "NOTIONAL", "minNotional": _fmt(MIN_NOTIONAL), "applyMinToMarket": True,
             "maxNotional": _fmt(9_000_000.0), "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        ],
        "permissions": [], "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }


async def exchange_info(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    if "symbols" in request.query:
        chosen = _listed(request)
    else:
        inst = _instrument(request, required=False)
        chosen = [inst] if inst else list(store.instruments.values())
    return web.json_response({
        "timezone": "UTC", "serverTime": store.clock.now_ms(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": 6000},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ],
        "exchangeFilters": [],
        "symbols": [_symbol_info(store, i) for i in chosen],
    })


async def derivatives_exchange_info(request: web.Request) -> web.Response:
    """The offline market lists no futures: ccxt asks for them while loading markets."""
    now = request.app[STORE_KEY].clock.now_ms()
    return web.json_response({"timezone": "UTC", "serverTime": now, "rateLimits": [],
                              "exchangeFilters": [], "assets": [], "symbols": []})


async def klines(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    inst = _instrument(request)
    interval = request.query.get("interval")
    if interval is None:
        raise BinanceError(-1102, "Mandatory parameter 'interval' was not sent, was empty/null, "
                                  "or malformed.")
    series = inst.series.get(interval)
    if series is None:
        raise BinanceError(-1120, f"Invalid interval. The offline market has "
                                  f"{sorted(inst.series)} for {inst.symbol}.")
    limit = _int_param(request, "limit") or KLINES_DEFAULT_LIMIT
    if not 1 <= limit <= KLINES_MAX_LIMIT:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    times, rows = store.klines(series, _int_param(request, "startTime"),
                               _int_param(request, "endTime"), limit)
    body = []
    for open_ms, (o, h, lo, c, v) in zip(times.tolist(), rows.tolist(), strict=True):
        body.append([open_ms, _fmt(o), _fmt(h), _fmt(lo), _fmt(c), _fmt(v),
                     open_ms + series.interval_ms - 1, _fmt(v * c), 0, _fmt(v / 2),
                     _fmt(v * c / 2), "0"])
    return web.json_response(body)


def _ticker_24h(store: CandleStore, inst: Instrument) -> dict:
    latest = store.latest(inst, DAY_MS)
    if latest is None:
        raise BinanceError(-1121, "Invalid symbol: no candle has been released yet.")
    open_ms, rows = latest
    o, c = float(rows[0, 0]), float(rows[-1, 3])
    volume = float(rows[:, 4].sum())
    quote_volume = float((rows[:, 4] * rows[:, 3]).sum())
    bid, ask = _book(c)
    close_ms = open_ms + inst.finest.interval_ms - 1
    return {
        "symbol": inst.symbol, "priceChange": _fmt(c - o),
        "priceChangePercent": f"{(c / o - 1) * 100:.3f}" if o else "0.000",
        "weightedAvgPrice": _fmt(quote_volume / volume if volume else c),
        "prevClosePrice": _fmt(o), "lastPrice": _fmt(c), "lastQty": _fmt(0.0),
        "bidPrice": _fmt(bid), "bidQty": _fmt(1.0), "askPrice": _fmt(ask), "askQty": _fmt(1.0),
        "openPrice": _fmt(o), "highPrice": _fmt(float(rows[:, 1].max())),
        "lowPrice": _fmt(float(rows[:, 2].min())), "volume": _fmt(volume),
        "quoteVolume": _fmt(quote_volume), "openTime": close_ms + 1 - DAY_MS,
        "closeTime": close_ms, "firstId": -1, "lastId": -1, "count": 0,
    }


def _one_or_all(request: web.Request, make: Callable[[CandleStore, Instrument], dict],
                ) -> web.Response:
    """One object for `symbol`, a list for `symbols` (each must have a candle released) or for
    neither (every pair with one)."""
    store = request.app[STORE_KEY]
    if "symbols" in request.query:
        return web.json_response([make(store, i) for i in _listed(request)])
    inst = _instrument(request, required=False)
    if inst is not None:
        return web.json_response(make(store, inst))
    items = []
    for candidate in store.instruments.values():
        try:
            items.append(make(store, candidate))
        except BinanceError:
            continue  # no candle released yet for this pair: Binance would not list it either
    return web.json_response(items)


async def ticker_24hr(request: web.Request) -> web.Response:
    return _one_or_all(request, _ticker_24h)


def _price(store: CandleStore, inst: Instrument) -> dict:
    last = _last_close(store, inst)
    if last is None:
        raise BinanceError(-1121, "Invalid symbol: no candle has been released yet.")
    return {"symbol": inst.symbol, "price": _fmt(last[1])}


async def ticker_price(request: web.Request) -> web.Response:
    return _one_or_all(request, _price)


def _book_ticker(store: CandleStore, inst: Instrument) -> dict:
    price = _price(store, inst)
    bid, ask = _book(float(price["price"]))
    return {"symbol": inst.symbol, "bidPrice": _fmt(bid), "bidQty": _fmt(1.0),
            "askPrice": _fmt(ask), "askQty": _fmt(1.0)}


async def book_ticker(request: web.Request) -> web.Response:
    return _one_or_all(request, _book_ticker)


async def depth(request: web.Request) -> web.Response:
    """A synthetic book around the last close: tick-spaced levels, sizes growing with distance."""
    store = request.app[STORE_KEY]
    inst = _instrument(request)
    limit = _int_param(request, "limit") or 100
    if not 1 <= limit <= 5000:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    last = _last_close(store, inst)
    if last is None:
        raise BinanceError(-1121, "Invalid symbol: no candle has been released yet.")
    close_open_ms, price = last
    bid, ask = _book(price)
    tick = tick_size(price)
    levels = np.arange(limit)
    size = np.round((1.0 + levels) * max(step_size(price), 10.0 / price), 8)
    return web.json_response({
        "lastUpdateId": close_open_ms,
        "bids": [[_fmt(bid - i * tick), _fmt(s)] for i, s in zip(levels, size, strict=True)],
        "asks": [[_fmt(ask + i * tick), _fmt(s)] for i, s in zip(levels, size, strict=True)],
    })


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def binance_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a Binance-shaped JSON error; the server itself never goes down."""
    try:
        return await handler(request)
    except BinanceError as err:
        return web.json_response({"code": err.code, "msg": err.msg}, status=err.status)
    except web.HTTPNotFound:
        return web.json_response(
            {"code": -1000, "msg": f"The offline market does not serve {request.path}."},
            status=404)
    except web.HTTPMethodNotAllowed:
        return web.json_response(
            {"code": -1000, "msg": f"{request.method} {request.path} is not supported offline."},
            status=405)
    except Exception:
        logger.exception("Unexpected error answering %s", request.path_qs)
        return web.json_response({"code": -1000, "msg": "Internal error in the offline market."},
                                 status=500)


def create_app(store: CandleStore) -> web.Application:
    app = web.Application(middlewares=[binance_errors])
    app[STORE_KEY] = store
    routes = {
        "/api/v3/ping": ping, "/api/v3/time": server_time,
        "/api/v3/exchangeInfo": exchange_info, "/api/v3/klines": klines,
        "/api/v3/uiKlines": klines, "/api/v3/ticker/24hr": ticker_24hr,
        "/api/v3/ticker/price": ticker_price, "/api/v3/ticker/bookTicker": book_ticker,
        "/api/v3/depth": depth,
        "/fapi/v1/exchangeInfo": derivatives_exchange_info,
        "/dapi/v1/exchangeInfo": derivatives_exchange_info,
    }
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    return app
