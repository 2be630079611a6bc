"""The load bench: the real program under a crowd of simulated Telegram users, side by side with
its ceiling (a bare aiogram bot, a constant API route). See bench/README.md."""
