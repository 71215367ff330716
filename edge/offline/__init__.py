"""Offline tools: replay, traces, MOT files, reports and tracking metrics."""
